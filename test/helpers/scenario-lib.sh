# Shell helpers for CLI scenarios (sourced by t_*.sh through $LIB). Commands
# that need a terminal (prompts, Ctrl-C) run in a tmux pane of a private tmux
# server; what they print is read back from the pane.
#   tty_start NAME 'command'   run command in a new pane (its exit status is kept)
#   tty_wait NAME REGEX [SECS] wait until the pane shows REGEX (else "timeout")
#   tty_type NAME TEXT         type TEXT and Enter
#   tty_ctrl_c NAME            Ctrl-C, as a terminal sends it (the whole foreground group)
#   tty_throttle NAME          from now until it ends, the command runs 5 ms in every 100 (SIGSTOP and
#                              SIGCONT): a step that would finish between two looks at the pane (a
#                              400 MiB wipe takes 0.2 s on an idle machine) is still running when Ctrl-C comes
#   tty_exit NAME              wait for the command to end; prints "exit N"
#   tty_screen NAME            the pane's text, trailing blank lines dropped
TMUX_SOCK="hc-scenario-$$"
tmx() { tmux -L "$TMUX_SOCK" "$@"; }
tty_start() {
  rm -f "$T/.tty-$1.rc"
  printf '%s\n' "$2" > "$T/.tty-$1.cmd"
  # the pane's shell catches Ctrl-C (a handler, not ignored: the command gets it as from a terminal)
  tmx new-session -d -s "$1" -x 200 -y 60 "trap : INT; sh $T/.tty-$1.cmd; echo \$? > $T/.tty-$1.rc; sleep 600"
}
tty_wait() {
  end=$(( $(date +%s) + ${3:-120} ))
  while [ "$(date +%s)" -lt "$end" ]; do
    tmx capture-pane -p -t "$1" -S -200 | grep -Eq -- "$2" && return 0
    [ -f "$T/.tty-$1.rc" ] && tmx capture-pane -p -t "$1" -S -200 | grep -Eq -- "$2" && return 0
    [ -f "$T/.tty-$1.rc" ] && { echo "tty_wait: ended before /$2/"; return 1; }
    sleep 0.2
  done
  echo "tty_wait: timeout waiting for /$2/"; return 1
}
tty_type() { tmx send-keys -t "$1" -l -- "$2"; tmx send-keys -t "$1" Enter; }
tty_ctrl_c() { tmx send-keys -t "$1" C-c; }
tty_throttle() {
  local top
  top=$(tmx display-message -p -t "$1" '#{pane_pid}')
  (
    below() { local c; for c in $(pgrep -P "$1"); do echo "$c"; below "$c"; done; }
    while [ ! -f "$T/.tty-$1.rc" ]; do
      pids=$(below "$top")
      [ -n "$pids" ] || break
      kill -STOP $pids 2>/dev/null; sleep 0.095
      kill -CONT $pids 2>/dev/null; sleep 0.005
    done
    kill -CONT $(below "$top") 2>/dev/null
  ) &
}
tty_exit() {
  end=$(( $(date +%s) + ${2:-300} ))
  while [ ! -s "$T/.tty-$1.rc" ] && [ "$(date +%s)" -lt "$end" ]; do sleep 0.2; done
  echo "exit $(cat "$T/.tty-$1.rc" 2>/dev/null || echo timeout)"
}
tty_screen() { tmx capture-pane -p -t "$1" -S -200 | sed -e 's/[[:space:]]*$//' | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'; }
tty_close() { tmx kill-session -t "$1" 2>/dev/null; }
tty_cleanup() { tmx kill-server 2>/dev/null; }
trap tty_cleanup EXIT
