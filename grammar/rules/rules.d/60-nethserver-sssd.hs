# Accounts provider client (nethserver-sssd).
#
# Its configuration is generated from the configuration database, which the configuration
# backup carries; the package's own list file in /etc/backup-data.d/ covers the rest. We
# have no basis for more paths, so this rule adds none. With a remote provider, check
# after promotion that the promoted host can still reach it.

package nethserver-sssd {
}
