# listing DIR: one line per entry (type, path, size or target, sha256), sorted;
# the same in the VM (busybox/dash) and on the host, so the two can be compared.
listing() {
  ( cd "$1" && find . -mindepth 1 ! -name lost+found ! -path './lost+found/*' | LC_ALL=C sort | while IFS= read -r f; do
      if [ -L "$f" ]; then printf 'symlink\t%s\t%s\n' "$f" "$(readlink "$f")"
      elif [ -d "$f" ]; then printf 'dir\t%s\n' "$f"
      else printf 'file\t%s\t%s\t%s\n' "$f" "$(stat -c %s "$f")" "$(sha256sum < "$f" | cut -d' ' -f1)"; fi
    done )
}
