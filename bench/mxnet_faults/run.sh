#!/bin/bash
# The README's fault table, MXNet 1.9.1's column: its dist_sync kvstore (ps-lite: a scheduler,
# one server, two workers on this host) with worker 1 failing as FAULT says (kill, raise,
# exit0, hang; see worker.py).  Prints how long worker 0 took to end (capped at 60 s).
# Needs the reference venv: ../shared/anchors/mxnet-venv.sh /tmp/mxnet-anchor
# Run from this folder: bash run.sh kill
export DMLC_PS_ROOT_URI=127.0.0.1 DMLC_PS_ROOT_PORT=9$((RANDOM % 900 + 100)) DMLC_NUM_SERVER=1 DMLC_NUM_WORKER=2 MXNET_SUBGRAPH_BACKEND=NONE FAULT=$1 OMP_NUM_THREADS=1
PY=${MXNET_PY:-/tmp/mxnet-anchor/bin/python}
DMLC_ROLE=scheduler $PY -c "import mxnet" & s=$!
DMLC_ROLE=server $PY -c "import mxnet" & v=$!
t0=$(date +%s.%N)
DMLC_ROLE=worker timeout 60 $PY worker.py > w0.log 2>&1 & a=$!
DMLC_ROLE=worker timeout 60 $PY worker.py > w1.log 2>&1 & b=$!
wait $a; ra=$?; t1=$(date +%s.%N)
wait $b; rb=$?
kill $s $v 2>/dev/null; wait 2>/dev/null
echo "$1: worker0 rc=$ra after $(echo "$t1 - $t0" | bc) s; worker1 rc=$rb; $(tail -1 w0.log | cut -c1-100)"
