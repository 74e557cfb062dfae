# Mattermost (nethserver-mattermost): its data folder comes through the package's own list
# file in /etc/backup-data.d/; its database runs on a separate PostgreSQL 12, the software
# collection rh-postgresql12, on port 55434.

package nethserver-mattermost {
    when databases {
        # The package's own restore loads this file. The collection's pg_dump (the system
        # one, 9.2, cannot read a PostgreSQL 12), as the postgres account: NethServer lets
        # the postgres role in only to that account (ident), never to root.
        dump postgresql mattermost into /var/lib/nethserver/mattermost/backup/mattermost.sql port=55434 run_as=postgres collection=rh-postgresql12
        include /var/lib/nethserver/mattermost/backup/mattermost.sql
    }
}
