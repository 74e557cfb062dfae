# WebTop 5 groupware (nethserver-webtop5).
#
# Not synchronised: the z-push (ActiveSync) state of the mobile devices. After promotion
# every phone and tablet does a full resynchronisation of its accounts.

package nethserver-webtop5 {
    when databases {
        # WebTop's PostgreSQL database; the package's own restore loads this file. Dumped
        # as the postgres account: NethServer lets the postgres role in only to it (ident).
        dump postgresql webtop5 into /var/lib/nethserver/webtop/backup/webtop.sql run_as=postgres
        include /var/lib/nethserver/webtop/backup/webtop.sql
    }
    warn "z-push (ActiveSync) state is not synchronised: after promotion mobile devices resynchronise from scratch"
}
