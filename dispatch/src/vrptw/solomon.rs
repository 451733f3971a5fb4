//! The Solomon instance format: a name line, a VEHICLE block (NUMBER, CAPACITY) and a CUSTOMER
//! table (number, x, y, demand, ready, due, service); customer 0 is the depot.

use super::{Instance, Site};

/// Parse an instance; errors name the line.
pub fn parse(text: &str) -> Result<Instance, String> {
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, name) = lines.next().ok_or("empty file")?;
    let name = name.trim().to_string();
    let mut fleet: Option<(usize, u32)> = None;
    let mut sites = vec![];
    let mut section = "";
    for (i, line) in lines {
        let line_no = i + 1;
        let t = line.trim();
        let upper = t.to_ascii_uppercase();
        if upper.starts_with("VEHICLE") {
            section = "vehicle";
            continue;
        }
        if upper.starts_with("CUSTOMER") {
            section = "customer";
            continue;
        }
        if upper.starts_with("NUMBER") || upper.starts_with("CUST") {
            continue;
        }
        let nums: Result<Vec<f64>, _> = t.split_whitespace().map(str::parse::<f64>).collect();
        let nums = nums.map_err(|_| format!("line {line_no}: expected numbers: {t:?}"))?;
        match section {
            "vehicle" if nums.len() == 2 => {
                if nums[0] < 1.0 || nums[1] < 1.0 {
                    return Err(format!("line {line_no}: the fleet needs vehicles and capacity"));
                }
                fleet = Some((nums[0] as usize, nums[1] as u32));
            }
            "customer" if nums.len() == 7 => {
                if nums[0] as usize != sites.len() {
                    return Err(format!(
                        "line {line_no}: customers must be numbered 0, 1, 2, … in order"
                    ));
                }
                if nums[4] > nums[5] || nums[3] < 0.0 || nums[6] < 0.0 {
                    return Err(format!("line {line_no}: window, demand or service time out of range"));
                }
                sites.push(Site {
                    x: nums[1],
                    y: nums[2],
                    demand: nums[3] as u32,
                    ready: nums[4],
                    due: nums[5],
                    service: nums[6],
                });
            }
            _ => return Err(format!("line {line_no}: unexpected {t:?}")),
        }
    }
    let (vehicles, capacity) = fleet.ok_or("no VEHICLE block")?;
    if sites.len() < 2 {
        return Err("no customers".into());
    }
    Ok(Instance::new(&name, sites, vehicles, capacity))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_format_and_names_bad_lines() {
        let text = "T1\n\nVEHICLE\nNUMBER     CAPACITY\n  3         50\n\nCUSTOMER\nCUST NO.  XCOORD.\n \n    0  0 0 0 0 100 0\n    1  3 4 10 0 50 5\n";
        let inst = parse(text).unwrap();
        assert_eq!(
            (inst.name.as_str(), inst.vehicles, inst.capacity, inst.customers()),
            ("T1", 3, 50, 1)
        );
        assert_eq!(inst.d(0, 1), 5.0);
        let bad = text.replace("    1  3 4 10 0 50 5", "    2  3 4 10 0 50 5");
        assert!(parse(&bad).unwrap_err().starts_with("line 11:"), "{:?}", parse(&bad));
        let bad = text.replace("  3         50", "  x         50");
        assert!(parse(&bad).unwrap_err().starts_with("line 5:"));
        assert!(parse("T\nCUSTOMER\n0 0 0 0 0 1 0\n1 1 1 1 0 1 0\n")
            .unwrap_err()
            .contains("VEHICLE"));
    }
}
