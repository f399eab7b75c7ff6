use super::*;

#[test]
fn prune_keeps_the_newest_the_live_and_the_protected() {
    let target = tempfile::tempdir().unwrap();
    let releases = target.path().join("releases");
    let keys: Vec<String> = (1..=8).map(|i| format!("2026112200000{i}-{i}")).collect();
    for key in &keys {
        std::fs::create_dir_all(releases.join(key)).unwrap();
    }
    std::fs::create_dir_all(releases.join("not-a-release")).unwrap();
    switch_symlink(&target.path().join("current"), &releases.join(&keys[0])).unwrap();

    let removed = prune(&releases, 3, &[keys[1].clone()]).unwrap();

    let mut left: Vec<String> = std::fs::read_dir(&releases)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        vec![
            keys[0].clone(),
            keys[1].clone(),
            keys[5].clone(),
            keys[6].clone(),
            keys[7].clone(),
            "not-a-release".into()
        ]
    );
    assert_eq!(removed.len(), 3);
}

#[test]
fn switch_replaces_the_link_and_refuses_a_real_directory() {
    let target = tempfile::tempdir().unwrap();
    let (a, b) = (target.path().join("a"), target.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let current = target.path().join("current");
    switch_symlink(&current, &a).unwrap();
    switch_symlink(&current, &b).unwrap();
    assert_eq!(std::fs::read_link(&current).unwrap(), b);

    let not_a_link = target.path().join("current2");
    std::fs::create_dir_all(&not_a_link).unwrap();
    assert!(switch_symlink(&not_a_link, &a).is_err());
}
