# Nextcloud (nethserver-nextcloud).
#
# Its data folder and configuration come through its own list file in /etc/backup-data.d/.

package nethserver-nextcloud {
    # Apps installed from the app store live beside the code, not in the data folder.
    when exists /usr/share/nextcloud/apps include /usr/share/nextcloud/apps
    # Its database is part of nethserver-mysql's all-databases dump (Nextcloud requires
    # that package). Loaded before the configuration restore so Nextcloud finds its tables.
    when databases promote restore mysql nextcloud
}
