# expect: 3:5: error: '*/5 * *' is not a cron schedule (expected 5 fields: minute hour day month weekday)
role master {
    schedule sync "*/5 * *"
}
