# FreePBX (nethserver-freepbx newer than 14.0.3).

package nethserver-freepbx > 14.0.3 {
    include /var/lib/asterisk/ /var/www/html/freepbx/ /etc/asterisk/
    include /etc/amportal.conf /etc/freepbx.conf /etc/freepbx_db.conf /usr/sbin/fwconsole
    # The package's own backup list leaves these out (its backup restores them another
    # way); a standby host needs them as they are.
    unexclude /var/www/html/freepbx /var/lib/nethserver/backup/mysql/asterisk.dump

    # Asterisk runs as asterisk; user ids can differ between the two hosts.
    owner asterisk:asterisk /etc/freepbx.conf /etc/amportal.conf
    owner asterisk:asterisk optional /etc/freepbx_db.conf
    owner asterisk:asterisk recursive /etc/asterisk/ /var/lib/asterisk/ /var/www/html/freepbx/

    when databases {
        # nethserver-mysql's all-databases dump writes asterisk.dump and asteriskcdrdb.dump;
        # dump them here only on a host without it.
        when not installed nethserver-mysql {
            dump mysql asterisk asteriskcdrdb into /var/lib/nethserver/backup/mysql/
            include /var/lib/nethserver/backup/mysql/asterisk.dump
            include /var/lib/nethserver/backup/mysql/asteriskcdrdb.dump
        }
        # FreePBX's restore fails on an empty database: load both first.
        promote restore mysql asterisk asteriskcdrdb
        # Then Asterisk must read the restored configuration and database. (Written in
        # both branches: promotion steps keep their order only within one condition.)
        # Optional: the configuration restore restarts it again; a failure is reported.
        promote optional restart asterisk
    } otherwise {
        warn "database sync is disabled: FreePBX may not work after promotion; run 'config setprop hotsync databases enabled'"
        promote optional restart asterisk
    }
}

# Older FreePBX releases are not supported: say so instead of syncing half of them.
rule nethserver-freepbx-too-old {
    when installed nethserver-freepbx {
        when not installed nethserver-freepbx > 14.0.3 {
            warn "nethserver-freepbx 14.0.3 or older is not synchronised: update it to a newer release"
        }
    }
}
