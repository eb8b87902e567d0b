ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKI2DgySeLNCy+Chn89b9XY2smeYaKXCszR00AHghd8u Cfg/root/.ssh/id_ed25519.pub/id_ed25519.pub.H_node01.cluster.example.com
