# bench/dashboard/dedupe_plans.awk: used by dashboard.sh on the plans file. Collapses repeated
# auto_explain blocks (same statement and plan shape, e.g. a function called once per row) into
# the first one plus a count and their total time; sections start with lines beginning "==".
function flush() {
  if (blk != "") {
    key = blk; gsub(/[0-9]+(\.[0-9]+)?/, "#", key)
    if (!(key in cnt)) { order[++n] = key; first[key] = blk }
    cnt[key]++; tot[key] += dur; blk = ""
  }
}
function emit(   i, k) {
  flush()
  for (i = 1; i <= n; i++) {
    k = order[i]; printf "%s", first[k]
    if (cnt[k] > 1) printf "[... and %d more executions with the same statement and plan shape: %d in all, %.3f ms in all]\n\n", cnt[k] - 1, cnt[k], tot[k]
  }
  split("", order); split("", cnt); split("", tot); split("", first); n = 0
}
/^==/ { emit(); print; next }
/^NOTICE:  duration: / { flush(); dur = $3; blk = $0 "\n"; next }
blk != "" { blk = blk $0 "\n"; next }
{ print }
END { emit() }
