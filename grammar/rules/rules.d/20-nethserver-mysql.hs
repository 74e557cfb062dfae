# MariaDB (nethserver-mysql): every database, dumped on the master before each push.

package nethserver-mysql {
    when databases {
        # One <database>.dump file per database; mysqldump logs in with root's own
        # ~/.my.cnf, which NethServer writes for the local administrator. A dump without
        # its date (as NethServer's mysql-dump-tables): an unchanged database leaves its
        # file as it was, and rsync sends nothing for it.
        dump mysql all into /var/lib/nethserver/backup/mysql/
        include /var/lib/nethserver/backup/mysql/
        # The server's own tables (users and grants), so the slave's server accepts the
        # applications' logins before their dumps are loaded.
        include /var/lib/mysql/mysql/
        # The administrator password those tables expect.
        include /var/lib/nethserver/secrets/mysql
    }
    # Restart on the synced system tables before any dump is loaded into the server.
    promote restart mysqld
}
