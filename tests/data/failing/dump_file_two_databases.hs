# expect: 3:44: error: a dump into a file takes exactly one database; end the path with '/' to dump into a folder
package nethserver-freepbx {
    dump mysql asterisk asteriskcdrdb into /var/lib/nethserver/backup/asterisk.sql
}
