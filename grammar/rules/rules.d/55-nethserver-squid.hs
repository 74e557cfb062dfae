# The web proxy (nethserver-squid): not a synchronised package of its own, but promotion
# must regenerate its configuration before the restore, as the original hotsync-promote did.
# Its files come through the list files in /etc/backup-data.d/.

package nethserver-squid {
    # Optional: the configuration restore regenerates them again; a failure is reported.
    promote optional run /sbin/e-smith/signal-event "nethserver-squid-update"
}
