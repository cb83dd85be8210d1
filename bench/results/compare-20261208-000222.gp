set terminal svg size 1260,700 dynamic noenhanced font 'sans,10'
set output 'compare-20261208-000222.svg'
set datafile missing '-'
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set yrange [100:*]
set grid ytics
set format y '%.0s%c'
set xtics rotate by -25 font ',8' nomirror
set multiplot layout 2,3 title "zufuse bench/compare.sh 20261208-000222: 6.18.44-fc-v1272, 2 CPUs, fio-3.33, zufuse b565e5f, RUNTIME=3s SIZE=256M PIN_CPU=0 ZUFUSE_OPTS='', load average 2.64 2.97 3.96 at the start, 1.84 2.66 3.77 at the end" font ',11'
set title 'randread-4k-direct (IOPS)'
set key top right font ',7' samplen 1
plot 'compare-20261208-000222.dat' index 0 using 2:xtic(1) lc 1 title 'zufuse-uring', \
     '' index 0 using 3 lc 2 title 'zufuse-examplefs'
set title 'randwrite-4k-direct (IOPS)'
unset key
plot 'compare-20261208-000222.dat' index 1 using 2:xtic(1) lc 1 title 'zufuse-uring', \
     '' index 1 using 3 lc 2 title 'zufuse-examplefs'
set title 'seqread-1m-direct (IOPS)'
unset key
plot 'compare-20261208-000222.dat' index 2 using 2:xtic(1) lc 1 title 'zufuse-uring', \
     '' index 2 using 3 lc 2 title 'zufuse-examplefs'
set title 'seqwrite-1m-direct (IOPS)'
unset key
plot 'compare-20261208-000222.dat' index 3 using 2:xtic(1) lc 1 title 'zufuse-uring', \
     '' index 3 using 3 lc 2 title 'zufuse-examplefs'
unset multiplot
