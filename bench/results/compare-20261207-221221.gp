set terminal svg size 840,370 dynamic noenhanced font 'sans,10'
set output 'compare-20261207-221221.svg'
set datafile missing '-'
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set yrange [100:*]
set grid ytics
set format y '%.0s%c'
set xtics rotate by -25 font ',8' nomirror
set multiplot layout 1,2 title "zufuse bench/compare.sh 20261207-221221: 6.18.44-fc-v1272, 2 CPUs, fio-3.33, zufuse c38b6c4, RUNTIME=3s SIZE=256M PIN_CPU=0 ZUFUSE_OPTS=''" font ',11'
set title 'randread-4k-direct (IOPS)'
set key top right font ',7' samplen 1
plot 'compare-20261207-221221.dat' index 0 using 2:xtic(1) lc 1 title 'nullfs-mt', \
     '' index 0 using 3 lc 2 title 'zufuse-uring'
set title 'randwrite-4k-direct (IOPS)'
unset key
plot 'compare-20261207-221221.dat' index 1 using 2:xtic(1) lc 1 title 'nullfs-mt', \
     '' index 1 using 3 lc 2 title 'zufuse-uring'
unset multiplot
