# Local LDAP accounts provider (nethserver-directory).
#
# Its data are covered by the package's own list file in /etc/backup-data.d/ (read by the
# base rule) and restored by the configuration restore at promotion. We have no basis for
# more paths, so this rule adds none.

package nethserver-directory {
}
