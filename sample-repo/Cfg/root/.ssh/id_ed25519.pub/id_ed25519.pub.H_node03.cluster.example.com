ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEzdRXgh1htLOELrcbr3Mpbnm8J5Jout/4MY8VUbOFYx Cfg/root/.ssh/id_ed25519.pub/id_ed25519.pub.H_node03.cluster.example.com
