# Instant messaging (nethserver-ejabberd): data through the package's own list file in
# /etc/backup-data.d/; the slave restores their owner.

package nethserver-ejabberd {
    owner ejabberd:ejabberd recursive /var/lib/nethserver/ejabberd/
}
