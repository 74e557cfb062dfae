# expect: 3:5: error: unknown job 'synk' for role master (did you mean 'sync'?); jobs: sync
role master {
    schedule synk "*/5 * * * *"
}
