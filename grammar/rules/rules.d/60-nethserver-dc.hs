# Active Directory domain controller (nethserver-dc): Samba runs in the nsdc container.

package nethserver-dc {
    # The container's whole file system, accounts database included.
    when exists /var/lib/machines/nsdc include /var/lib/machines/nsdc
    # The links that start the container at boot: without them a promoted host comes up
    # without its domain controller.
    when exists /etc/systemd/system/machines.target.wants/nsdc.service {
        include /etc/systemd/system/machines.target.wants/nsdc.service
    }
    when exists /etc/systemd/system/multi-user.target.wants/machines.target {
        include /etc/systemd/system/multi-user.target.wants/machines.target
    }
}
