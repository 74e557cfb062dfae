# The ACLs of the shared folders, as dumped by nethserver-ibays' own action; the
# configuration restore at promotion applies them again.
#
# The dump is made again before each push, as the original did, so the slave holds the
# ACLs of the moment it was last synced. When the dumper fails, the push still runs (with
# the dump it last made) and the sync's status says so.

rule acls {
    when exists /etc/e-smith/events/actions/nethserver-ibays-dump-acls {
        before push run /etc/e-smith/events/actions/nethserver-ibays-dump-acls
        include /var/lib/nethserver/backup/acls.dump
    }
}
