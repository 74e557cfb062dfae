# Mail filter (nethserver-mail-filter): Rspamd and its Redis store.
#
# The data come through the package's own list file in /etc/backup-data.d/; the slave
# restores their owners, as user ids can differ between the two hosts.

package nethserver-mail-filter {
    owner redis:redis recursive /var/lib/redis/
    owner _rspamd:_rspamd recursive /var/lib/rspamd/
}
