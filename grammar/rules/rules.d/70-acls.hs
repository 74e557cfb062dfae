# The ACLs of the shared folders, as dumped by nethserver-ibays' own action; the
# configuration restore at promotion applies them again.
#
# The original ran the dumper before each push. The language cannot run a program before a
# push (only 'dump mysql|postgresql'), so this pushes the dump the host's own backup last
# made. A plugin in /etc/hotsync.d/ that runs the action keeps it current.

rule acls {
    when exists /etc/e-smith/events/actions/nethserver-ibays-dump-acls {
        include /var/lib/nethserver/backup/acls.dump
    }
}
