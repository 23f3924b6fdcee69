// The package lists of the Debian roots the suites share. A cached root is
// keyed by its list (test/helpers/debootstrap.ts), so suites that use the same
// list share one cache: import it from here rather than copying it.

/**
 * A clean Debian system that homecrypt's package installs into with no
 * network: minbase plus what the .deb depends on and recommends, and the tools
 * the tests drive (pamtester, man, bash completion, keyctl). Used by the
 * package suite (test/package/) and the OS-installer suite (test/installer/).
 */
export const HOMECRYPT_TARGET_PACKAGES: readonly string[] = [
  'nodejs',
  'libfuse2',
  'fuse3',
  'libpam-runtime',
  'libpam-modules',
  'libstdc++6',
  'cryptsetup-bin',
  'ecryptfs-utils',
  'keyutils',
  'man-db',
  'bash-completion',
  'pamtester',
];

/**
 * The target system plus what a booted Debian has: systemd as PID 1 (under
 * `systemd-nspawn -b`), logind and pam_systemd, dbus, an sshd and sudo. Used by
 * the booted-systemd login suite (test/boot/).
 */
export const BOOTED_TARGET_PACKAGES: readonly string[] = [
  ...HOMECRYPT_TARGET_PACKAGES,
  'systemd',
  'systemd-sysv',
  'dbus',
  'libpam-systemd',
  'openssh-server',
  'sudo',
  'procps',
];
