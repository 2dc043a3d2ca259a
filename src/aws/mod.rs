//! AWS: hold Auto Scaling terminations and spot interruptions until the logs are drained
//! (`drainguard aws watch`), and the AWS checks of `doctor --aws`. Built with `--features aws`.

pub mod asg;
pub mod doctor;
pub mod imds;
pub mod lifecycle;
pub mod watch;
