# Printing (nethserver-cups).
#
# Printers and queues are covered by the package's own list file in /etc/backup-data.d/
# and by the configuration backup. We know of nothing else a standby host needs, so this
# rule adds nothing: it records that the package was considered.

package nethserver-cups {
}
