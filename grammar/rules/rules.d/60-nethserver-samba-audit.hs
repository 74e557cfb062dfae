# Samba audit (nethserver-samba-audit).

package nethserver-samba-audit {
    # The audit trail is data, not a log to rotate away: keep it although /var/log/ is
    # excluded (an excluded folder does not hide a file the list names).
    include /var/log/smbaudit.log
}
