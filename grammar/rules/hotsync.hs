# HotSync main rules file (installed as /etc/hotsync/hotsync.hs).
#
# Settings an admin changes live in the configuration database:
#   config setprop hotsync role master SlaveHost 192.168.1.2
#   signal-event nethserver-hotsync-save
# This file says what each setting means and what is always synchronised.
# Package rules are in rules.d/, one file per package; drop your own there too.

global {
    role           = setting hotsync.role default ""
    status         = setting hotsync.status default enabled
    databases      = setting hotsync.databases default enabled
    tunnel_port    = setting hotsync.SlavePort default 273
    rsync_port     = setting rsyncd.TCPPort default 873
    password       = setting rsyncd.password
    # psk or certificate; empty: psk when this host's stunnel has it (5.09 and later).
    # Both hosts must use the same: see the README's settings.
    tunnel_auth    = setting hotsync.TunnelAuth default ""
    user           = hotsyncuser
    # Compression costs more time than it saves on a LAN; enable it for slow links.
    compress       = setting hotsync.Compress default off
    # Minutes between two pushes (1 to 59, or whole hours up to 1440); 15 pushes at 5, 20,
    # 35 and 50 past each hour. A 'schedule sync "CRON"' in role master replaces it.
    sync_interval  = setting hotsync.SyncInterval default 15
    # interval: cron's push only; continuous: the master also runs the hotsync-watch service,
    # which pushes each change within about a second (see the README's continuous push).
    mode           = setting hotsync.Mode default interval
    # The most a push sends, in KiB/s (rsync --bwlimit), for a slave across a slow link; empty: no cap.
    bwlimit        = setting hotsync.BwLimit default ""
    # The slave keeps a restore point per push (see the README): enabled or disabled.
    restore_points = setting hotsync.RestorePoints default enabled
    # How long the slave keeps them: every point for 2 hours, then one an hour for 2 days, one a
    # day for 14 days, one a week for 8 weeks (h, d or w); and the oldest are dropped while less
    # than 10% of the disk is free (0 to 90).
    restore_points_keep       = setting hotsync.RestorePointsKeep default "2h,2d,14d,8w"
    restore_points_free_space = setting hotsync.RestorePointsFreeSpace default 10
    max_delete     = setting hotsync.MaxDeletePercent default 20%
    # The brake pauses a push that would rewrite more of the synced files (see the README).
    max_rewrite    = setting hotsync.MaxRewritePercent default 30%
    io_timeout     = setting hotsync.IoTimeout default 600
    plugin_timeout = 60
    notify         = setting hotsync.NotifyTo default ""
    # A copy older than these (seconds) is late, then stale; empty: 1.5x and 6x sync_interval
    # (1350 s and 5400 s for 15 minutes). The slave mails NotifyTo when its copy turns late or
    # stale, and back to fresh.
    freshness_warning  = setting hotsync.FreshnessWarning default ""
    freshness_critical = setting hotsync.FreshnessCritical default ""
    # node_exporter's textfile collector folder (hotsync.prom); off: no metrics file.
    metrics_dir    = setting hotsync.MetricsDir default /var/lib/node_exporter/textfile_collector
    # MiB a promotion needs free on the slave beside its dumps ("ready to promote").
    min_free_space = setting hotsync.PromoteFreeSpace default 1024
    plugin_dir     = /etc/hotsync.d
    # Set by hotsync-promote: a promoted host refuses pushes from the master it replaced.
    promotion_generation = setting hotsync.PromotionGeneration default 0
    fence_port     = setting hotsync.FencePort default ""
    promotion_started = setting hotsync.PromotionStarted default 0
}

role master {
    slave_host = setting hotsync.SlaveHost
}

role slave {
    master_host = setting hotsync.MasterHost
    schedule upkeep "0 1 * * *"
    schedule fixperm "0,15,30,45 * * * *"
    # The copy's freshness (mailed once per change), "ready to promote", the metrics file.
    schedule health "0,15,30,45 * * * *"
}

# What every host keeps in sync, whatever is installed.
rule base {
    # The lists every NethServer package ships for its backups.
    include from "/etc/backup-data.d/*.include"
    exclude from "/etc/backup-data.d/*.exclude"
    # The configuration backup made before each push, so the slave can restore it.
    include /var/lib/nethserver/backup/backup-config.tar.xz
    include /var/lib/nethserver/backup/backup-config.tar.xz.md5
    include /var/lib/nethserver/backup/backup-config.tar.xz-content.md5
    # Package-manager configuration, so the slave reinstalls from the same repositories.
    include /etc/yum/vars /etc/yum.repos.d /etc/yum.conf
    # Never mirrored as files: the live databases (the backup carries them), the logs.
    exclude /var/lib/nethserver/backup/ /var/lib/nethserver/db/ /var/log/
}

include "rules.d/*.hs"
