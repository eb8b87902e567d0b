This node schedules jobs for the cluster.
