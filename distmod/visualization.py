"""``mx.viz``: print_summary and plot_network."""
