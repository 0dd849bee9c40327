//! `cgaf bench --scale --only products` with tiny sizes: the products-on-time steps run a real
//! `cgaf serve` on a private PostgreSQL and print their tables (numbers are for `cgaf bench` on a
//! quiet machine; this checks the tables are made and hold what was measured).

mod common;

#[test]
fn the_products_steps_print_both_tables() {
    let out = common::cgaf()
        .args(["bench", "--scale", "--only", "products"])
        .args(["--scale-products", "1,2", "--scale-step-seconds", "2", "--scale-edge", "30"])
        .env("CGAF_LOG", "warn")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let table = text.split("scale: products on time").nth(1).unwrap_or_else(|| panic!("no table:\n{text}"));
    let rows: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|w| w.first().is_some_and(|c| c.parse::<u32>().is_ok()))
        .collect();
    // Two rows in each of the two tables: 1 and 2 products.
    assert_eq!(rows.iter().map(|r| r[0]).collect::<Vec<_>>(), ["1", "2", "1", "2"], "{text}");
    for row in &rows[..2] {
        // Samples were stored and cycles ran in the window ("done/scheduled").
        let samples: f64 = row[1].parse().unwrap();
        assert!(samples > 0.0, "{text}");
        let (done, scheduled) = row[2].split_once('/').unwrap();
        assert!(done.parse::<f64>().unwrap() > 0.0 && scheduled.parse::<f64>().unwrap() > 0.0, "{text}");
    }
    // The second table: RSS growth from 1 to 2 products, and PostgreSQL bytes for each step.
    assert_eq!(rows[2][1], "-", "{text}");
    assert!(rows[3][1].parse::<f64>().is_ok(), "{text}");
    assert!(rows[2].iter().rev().nth(1).unwrap().parse::<f64>().unwrap() > 0.0, "{text}");
    assert!(text.contains("samples per product"), "{text}");
}
