set terminal svg size 1680,1030 dynamic noenhanced font 'sans,10'
set output 'compare-20261207-235444.svg'
set datafile missing '-'
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set yrange [100:*]
set grid ytics
set format y '%.0s%c'
set xtics rotate by -25 font ',8' nomirror
set multiplot layout 3,4 title "zufuse bench/compare.sh 20261207-235444: 6.18.44-fc-v1272, 2 CPUs, fio-3.33, zufuse b565e5f, RUNTIME=3s SIZE=256M PIN_CPU=0 ZUFUSE_OPTS='', load average 0.22 1.89 4.32 at the start, 3.11 3.07 4.00 at the end" font ',11'
set title 'randread-4k-direct (IOPS)'
set key top right font ',7' samplen 1
plot 'compare-20261207-235444.dat' index 0 using 2:xtic(1) lc 1 title 'nullfs-mt', \
     '' index 0 using 3 lc 2 title 'passthrough', \
     '' index 0 using 4 lc 3 title 'zufuse-mt', \
     '' index 0 using 5 lc 4 title 'zufuse-uring'
set title 'randwrite-4k-direct (IOPS)'
unset key
plot 'compare-20261207-235444.dat' index 1 using 2:xtic(1) lc 1 title 'nullfs-mt', \
     '' index 1 using 3 lc 2 title 'passthrough', \
     '' index 1 using 4 lc 3 title 'zufuse-mt', \
     '' index 1 using 5 lc 4 title 'zufuse-uring'
set title 'seqread-1m-direct (IOPS)'
unset key
plot 'compare-20261207-235444.dat' index 2 using 2:xtic(1) lc 1 title 'nullfs-mt', \
     '' index 2 using 3 lc 2 title 'passthrough', \
     '' index 2 using 4 lc 3 title 'zufuse-mt', \
     '' index 2 using 5 lc 4 title 'zufuse-uring'
set title 'seqwrite-1m-direct (IOPS)'
unset key
plot 'compare-20261207-235444.dat' index 3 using 2:xtic(1) lc 1 title 'nullfs-mt', \
     '' index 3 using 3 lc 2 title 'passthrough', \
     '' index 3 using 4 lc 3 title 'zufuse-mt', \
     '' index 3 using 5 lc 4 title 'zufuse-uring'
set title 'meta-create (ops/s)'
unset key
plot 'compare-20261207-235444.dat' index 4 using 3:xtic(1) lc 2 title 'passthrough', \
     '' index 4 using 4 lc 3 title 'zufuse-mt', \
     '' index 4 using 5 lc 4 title 'zufuse-uring'
set title 'meta-stat (ops/s)'
unset key
plot 'compare-20261207-235444.dat' index 5 using 3:xtic(1) lc 2 title 'passthrough', \
     '' index 5 using 4 lc 3 title 'zufuse-mt', \
     '' index 5 using 5 lc 4 title 'zufuse-uring'
set title 'meta-rename (ops/s)'
unset key
plot 'compare-20261207-235444.dat' index 6 using 3:xtic(1) lc 2 title 'passthrough', \
     '' index 6 using 4 lc 3 title 'zufuse-mt', \
     '' index 6 using 5 lc 4 title 'zufuse-uring'
set title 'meta-unlink (ops/s)'
unset key
plot 'compare-20261207-235444.dat' index 7 using 3:xtic(1) lc 2 title 'passthrough', \
     '' index 7 using 4 lc 3 title 'zufuse-mt', \
     '' index 7 using 5 lc 4 title 'zufuse-uring'
set title 'meta-mkdir (ops/s)'
unset key
plot 'compare-20261207-235444.dat' index 8 using 3:xtic(1) lc 2 title 'passthrough', \
     '' index 8 using 4 lc 3 title 'zufuse-mt', \
     '' index 8 using 5 lc 4 title 'zufuse-uring'
set title 'meta-rmdir (ops/s)'
unset key
plot 'compare-20261207-235444.dat' index 9 using 3:xtic(1) lc 2 title 'passthrough', \
     '' index 9 using 4 lc 3 title 'zufuse-mt', \
     '' index 9 using 5 lc 4 title 'zufuse-uring'
unset multiplot
