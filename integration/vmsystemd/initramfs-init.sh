#!/bin/sh
# /init of the systemd VM lane's initramfs. Loads the modules for virtio
# and 9p, mounts the host's root read-only (9p tag hostroot) under a tmpfs
# overlay, writes the lane's systemd units and a minimal /etc into the
# overlay, then hands over to systemd as pid 1.
PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.order); do insmod "/modules/$m" 2>/dev/null || echo "initramfs: insmod $m failed"; done
mkdir -p /lower /upper /newroot
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /lower; then
	echo "VMTEST fail initramfs: could not mount the host's root over 9p"; poweroff -f
fi
mount -t tmpfs -o size=6g,mode=0755 tmpfs /upper
mkdir -p /upper/data /upper/work
if ! mount -t overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work,index=off,metacopy=off,redirect_dir=off overlay /newroot; then
	echo "VMTEST fail initramfs: overlay over the host's root failed"; poweroff -f
fi
# The guest's own /etc pieces: no host disks to mount, its own machine id,
# and the lane's units (berth-vmtest.target is the boot target).
# The host's container marker would make systemd believe it runs in a
# container (and ignore the kernel's command line, systemd.unit included).
rm -f /newroot/.dockerenv /newroot/run/.containerenv
printf '# the systemd VM lane: the root is an overlay set up by the initramfs\n' > /newroot/etc/fstab
: > /newroot/etc/machine-id
cp /lane/berth-vmtest.target /lane/berth-vmtest.service /newroot/etc/systemd/system/ ||
	echo "VMTEST fail initramfs: could not write the lane's units"
umount /proc /sys
mount --move /dev /newroot/dev 2>/dev/null || umount /dev
exec switch_root /newroot /lib/systemd/systemd
