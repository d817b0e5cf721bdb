# Sourced by the load scripts: with PIN=1, pin the demo to CPU 0 and the
# load generator to CPU 1 (taskset), so that the two do not compete and the
# throughput measures the demo's own CPU per request. Sets the arrays
# pin_demo and pin_wrk (empty without PIN=1) to prefix the commands with.
pin_demo=()
pin_wrk=()
if [ "${PIN:-0}" = 1 ]; then
  pin_demo=(taskset -c 0)
  pin_wrk=(taskset -c 1)
fi
