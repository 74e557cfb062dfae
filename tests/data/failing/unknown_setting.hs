# expect: 3:5: error: unknown setting 'compres' (did you mean 'compress'?); known settings: bwlimit, compress, databases, fence_port, freshness_critical, freshness_warning, io_timeout, max_delete, max_rewrite, metrics_dir, min_free_space, mode, notify, password, plugin_dir, plugin_timeout, promotion_generation, promotion_started, restore_points, restore_points_free_space, restore_points_keep, role, rsync_port, status, sync_interval, tunnel_auth, tunnel_port, user
global {
    compres = on
}
