module sluice.local/golden

go 1.25
