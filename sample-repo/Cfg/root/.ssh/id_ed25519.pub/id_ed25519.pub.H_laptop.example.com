ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAA7Vt1UehIOvXjZsAt+ZrjEVArIV7i5efJRcZXCpeDE Cfg/root/.ssh/id_ed25519.pub/id_ed25519.pub.H_laptop.example.com
