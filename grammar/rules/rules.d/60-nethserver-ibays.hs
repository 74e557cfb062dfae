# Shared folders (nethserver-ibays).
#
# The folders themselves are covered by the package's own list file in /etc/backup-data.d/.
# Their ACLs travel as a dump: see 70-acls.hs. The configuration restore at promotion
# recreates the shares and applies the ACLs again.

package nethserver-ibays {
}
