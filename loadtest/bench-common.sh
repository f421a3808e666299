# Shell helpers the benchmark runners share (sourced, not run).

busy_cores() { # busy cores × 100, averaged over 2 s, from /proc/stat
    local a b c d e f g h t1 i1 t2 i2
    read -r _ a b c d e f g h _ </proc/stat; t1=$((a+b+c+d+e+f+g+h)); i1=$((d+e))
    sleep 2
    read -r _ a b c d e f g h _ </proc/stat; t2=$((a+b+c+d+e+f+g+h)); i2=$((d+e))
    echo $(( ((t2 - t1) - (i2 - i1)) * 100 * $(nproc) / (t2 - t1 > 0 ? t2 - t1 : 1) ))
}

# The machine is shared: wait (up to QUIET_WAIT seconds, 0 = never) until others use at
# most QUIET_MAX hundredths of a core before each measurement. Each report shows what
# other processes used during it anyway (cpu.other_cpu_secs).
wait_quiet() {
    local deadline=$((SECONDS + ${QUIET_WAIT:-180})) b
    while [ "$SECONDS" -lt "$deadline" ]; do
        b=$(busy_cores)
        [ "$b" -le "${QUIET_MAX:-25}" ] && return 0
        echo "   machine busy ($b/100 cores in use by other processes); waiting" >&2
    done
    [ "${QUIET_WAIT:-180}" -eq 0 ] || echo "   still busy; measuring anyway" >&2
}
