set terminal svg size 1680,1360 dynamic noenhanced font 'sans,10'
set output 'compare-20261207-214653.svg'
set datafile missing '-'
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set yrange [100:*]
set grid ytics
set format y '%.0s%c'
set xtics rotate by -25 font ',8' nomirror
set multiplot layout 4,4 title "zufuse bench/compare.sh 20261207-214653: 6.18.44-fc-v1272, 2 CPUs, fio-3.33, zufuse c38b6c4, RUNTIME=3s SIZE=256M PIN_CPU=0 ZUFUSE_OPTS=''" font ',11'
set title 'randread-4k-direct (IOPS)'
set key top right font ',7' samplen 1
plot 'compare-20261207-214653.dat' index 0 using 2:xtic(1) lc 1 title 'tmpfs', \
     '' index 0 using 3 lc 2 title 'nullfs-st', \
     '' index 0 using 4 lc 3 title 'nullfs-mt', \
     '' index 0 using 5 lc 4 title 'passthrough', \
     '' index 0 using 6 lc 5 title 'zufuse-st', \
     '' index 0 using 7 lc 6 title 'zufuse-mt', \
     '' index 0 using 8 lc 7 title 'zufuse-uring', \
     '' index 0 using 9 lc 8 title 'zufuse-disk'
set title 'randwrite-4k-direct (IOPS)'
unset key
plot 'compare-20261207-214653.dat' index 1 using 2:xtic(1) lc 1 title 'tmpfs', \
     '' index 1 using 3 lc 2 title 'nullfs-st', \
     '' index 1 using 4 lc 3 title 'nullfs-mt', \
     '' index 1 using 5 lc 4 title 'passthrough', \
     '' index 1 using 6 lc 5 title 'zufuse-st', \
     '' index 1 using 7 lc 6 title 'zufuse-mt', \
     '' index 1 using 8 lc 7 title 'zufuse-uring', \
     '' index 1 using 9 lc 8 title 'zufuse-disk'
set title 'randwrite-4k-direct-dsync (IOPS)'
unset key
plot 'compare-20261207-214653.dat' index 2 using 2:xtic(1) lc 1 title 'tmpfs', \
     '' index 2 using 3 lc 2 title 'nullfs-st', \
     '' index 2 using 4 lc 3 title 'nullfs-mt', \
     '' index 2 using 5 lc 4 title 'passthrough', \
     '' index 2 using 6 lc 5 title 'zufuse-st', \
     '' index 2 using 7 lc 6 title 'zufuse-mt', \
     '' index 2 using 8 lc 7 title 'zufuse-uring', \
     '' index 2 using 9 lc 8 title 'zufuse-disk'
set title 'seqread-1m-direct (IOPS)'
unset key
plot 'compare-20261207-214653.dat' index 3 using 2:xtic(1) lc 1 title 'tmpfs', \
     '' index 3 using 3 lc 2 title 'nullfs-st', \
     '' index 3 using 4 lc 3 title 'nullfs-mt', \
     '' index 3 using 5 lc 4 title 'passthrough', \
     '' index 3 using 6 lc 5 title 'zufuse-st', \
     '' index 3 using 7 lc 6 title 'zufuse-mt', \
     '' index 3 using 8 lc 7 title 'zufuse-uring', \
     '' index 3 using 9 lc 8 title 'zufuse-disk'
set title 'seqwrite-1m-direct (IOPS)'
unset key
plot 'compare-20261207-214653.dat' index 4 using 2:xtic(1) lc 1 title 'tmpfs', \
     '' index 4 using 3 lc 2 title 'nullfs-st', \
     '' index 4 using 4 lc 3 title 'nullfs-mt', \
     '' index 4 using 5 lc 4 title 'passthrough', \
     '' index 4 using 6 lc 5 title 'zufuse-st', \
     '' index 4 using 7 lc 6 title 'zufuse-mt', \
     '' index 4 using 8 lc 7 title 'zufuse-uring', \
     '' index 4 using 9 lc 8 title 'zufuse-disk'
set title 'seqread-1m-buffered (IOPS)'
unset key
plot 'compare-20261207-214653.dat' index 5 using 2:xtic(1) lc 1 title 'tmpfs', \
     '' index 5 using 3 lc 2 title 'nullfs-st', \
     '' index 5 using 4 lc 3 title 'nullfs-mt', \
     '' index 5 using 5 lc 4 title 'passthrough', \
     '' index 5 using 6 lc 5 title 'zufuse-st', \
     '' index 5 using 7 lc 6 title 'zufuse-mt', \
     '' index 5 using 8 lc 7 title 'zufuse-uring', \
     '' index 5 using 9 lc 8 title 'zufuse-disk'
set title 'seqwrite-1m-buffered (IOPS)'
unset key
plot 'compare-20261207-214653.dat' index 6 using 2:xtic(1) lc 1 title 'tmpfs', \
     '' index 6 using 3 lc 2 title 'nullfs-st', \
     '' index 6 using 4 lc 3 title 'nullfs-mt', \
     '' index 6 using 5 lc 4 title 'passthrough', \
     '' index 6 using 6 lc 5 title 'zufuse-st', \
     '' index 6 using 7 lc 6 title 'zufuse-mt', \
     '' index 6 using 8 lc 7 title 'zufuse-uring', \
     '' index 6 using 9 lc 8 title 'zufuse-disk'
set title 'meta-create (ops/s)'
unset key
plot 'compare-20261207-214653.dat' index 7 using 2:xtic(1) lc 1 title 'tmpfs', \
     '' index 7 using 5 lc 4 title 'passthrough', \
     '' index 7 using 6 lc 5 title 'zufuse-st', \
     '' index 7 using 7 lc 6 title 'zufuse-mt', \
     '' index 7 using 8 lc 7 title 'zufuse-uring', \
     '' index 7 using 9 lc 8 title 'zufuse-disk'
set title 'meta-stat (ops/s)'
unset key
plot 'compare-20261207-214653.dat' index 8 using 2:xtic(1) lc 1 title 'tmpfs', \
     '' index 8 using 5 lc 4 title 'passthrough', \
     '' index 8 using 6 lc 5 title 'zufuse-st', \
     '' index 8 using 7 lc 6 title 'zufuse-mt', \
     '' index 8 using 8 lc 7 title 'zufuse-uring', \
     '' index 8 using 9 lc 8 title 'zufuse-disk'
set title 'meta-rename (ops/s)'
unset key
plot 'compare-20261207-214653.dat' index 9 using 2:xtic(1) lc 1 title 'tmpfs', \
     '' index 9 using 5 lc 4 title 'passthrough', \
     '' index 9 using 6 lc 5 title 'zufuse-st', \
     '' index 9 using 7 lc 6 title 'zufuse-mt', \
     '' index 9 using 8 lc 7 title 'zufuse-uring', \
     '' index 9 using 9 lc 8 title 'zufuse-disk'
set title 'meta-unlink (ops/s)'
unset key
plot 'compare-20261207-214653.dat' index 10 using 2:xtic(1) lc 1 title 'tmpfs', \
     '' index 10 using 5 lc 4 title 'passthrough', \
     '' index 10 using 6 lc 5 title 'zufuse-st', \
     '' index 10 using 7 lc 6 title 'zufuse-mt', \
     '' index 10 using 8 lc 7 title 'zufuse-uring', \
     '' index 10 using 9 lc 8 title 'zufuse-disk'
set title 'meta-mkdir (ops/s)'
unset key
plot 'compare-20261207-214653.dat' index 11 using 2:xtic(1) lc 1 title 'tmpfs', \
     '' index 11 using 5 lc 4 title 'passthrough', \
     '' index 11 using 6 lc 5 title 'zufuse-st', \
     '' index 11 using 7 lc 6 title 'zufuse-mt', \
     '' index 11 using 8 lc 7 title 'zufuse-uring', \
     '' index 11 using 9 lc 8 title 'zufuse-disk'
set title 'meta-rmdir (ops/s)'
unset key
plot 'compare-20261207-214653.dat' index 12 using 2:xtic(1) lc 1 title 'tmpfs', \
     '' index 12 using 5 lc 4 title 'passthrough', \
     '' index 12 using 6 lc 5 title 'zufuse-st', \
     '' index 12 using 7 lc 6 title 'zufuse-mt', \
     '' index 12 using 8 lc 7 title 'zufuse-uring', \
     '' index 12 using 9 lc 8 title 'zufuse-disk'
unset multiplot
