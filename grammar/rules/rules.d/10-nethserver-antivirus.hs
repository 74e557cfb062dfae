# ClamAV (nethserver-antivirus).
#
# Its settings travel in the configuration backup and in the list files under
# /etc/backup-data.d/, so nothing is added to the push here. The virus signatures are not
# synchronised: they are large, change hourly and are downloaded again instead.
#
# The number in each rule file's name orders the promotion steps of all of them:
# antivirus, then MySQL, then the dumps loaded into it, then the services using them.

package nethserver-antivirus {
    # A promoted slave must not scan mail and files with missing or stale signatures.
    # freshclam needs the internet, which a dead master that was the gateway took with it:
    # then the step fails, promotion reports it and goes on (clamd's own updates follow).
    promote optional run /usr/bin/freshclam
}
