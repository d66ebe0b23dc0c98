module example.com/three-image-diet

go 1.19
