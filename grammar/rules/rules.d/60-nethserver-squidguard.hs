# Web filter (nethserver-squidguard).

package nethserver-squidguard {
    # The downloaded blacklists and their compiled databases.
    include /var/squidGuard

    # squid reads the blacklists, ufdbGuard writes its caches; ids can differ between hosts.
    owner squid:squid recursive /var/squidGuard/blacklists/
    owner ufdb:squid recursive /var/squidGuard/blacklists/cache.execlists/
    # The previous list set, kept while a download is checked.
    owner squid:squid recursive optional /var/squidGuard/blacklists.old/
    owner ufdb:squid recursive optional /var/squidGuard/blacklists.old/cache.execlists/
    # ufdbGuard writes a log file each day below it: the whole tree, as the original did.
    owner ufdb:ufdb recursive optional /var/ufdbguard/logs/
}
