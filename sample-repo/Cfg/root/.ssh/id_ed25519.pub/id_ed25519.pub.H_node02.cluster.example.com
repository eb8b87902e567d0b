ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAml5Haivf2l9/kXFQt5tssqwLNI4GlzThGz2RNNT1FW Cfg/root/.ssh/id_ed25519.pub/id_ed25519.pub.H_node02.cluster.example.com
