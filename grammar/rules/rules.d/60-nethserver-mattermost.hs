# Mattermost (nethserver-mattermost): its data folder comes through the package's own list
# file in /etc/backup-data.d/; its database runs on a separate PostgreSQL 12 (port 55434).

package nethserver-mattermost {
    when databases {
        # The package's own restore loads this file.
        dump postgresql mattermost into /var/lib/nethserver/mattermost/backup/mattermost.sql port=55434 user=postgres
        include /var/lib/nethserver/mattermost/backup/mattermost.sql
    }
}
