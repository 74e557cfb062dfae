# Mail server (nethserver-mail-server): mailboxes and Sieve filters.
#
# The mailboxes are covered by the package's own list file in /etc/backup-data.d/. The
# slave restores their owners: user and group ids can differ between the two hosts, and
# Dovecot refuses mailboxes it does not own.

package nethserver-mail-server {
    owner vmail:vmail recursive /var/lib/nethserver/vmail/
    owner root:vmail /var/lib/nethserver/sieve-scripts/
    # Compiled filters must be writable by Dovecot, which recompiles them.
    owner vmail:vmail /var/lib/nethserver/sieve-scripts/ matching "*.svbin"
}
