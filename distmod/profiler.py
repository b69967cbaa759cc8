"""``mx.profiler``: operator timings written as Chrome-trace JSON."""
