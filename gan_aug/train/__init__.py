"""The conditional GAN trainer, in pieces as stylegan2-ada-pytorch splits it: the loop (loop.py),
the loss with its regulariser (loss.py), adaptive augmentation (augment.py) and per-class best
weights with early stop (early_stop.py). Each stateful piece saves and restores itself."""
from gan_aug.train.loop import ProgressFn, TrainResult, _Trainer, amp_dtype, class_sampling_weights, train_gan

# _Trainer: bench/gan_speed.py times the bare step without the loop around it.
__all__ = ["ProgressFn", "TrainResult", "_Trainer", "amp_dtype", "class_sampling_weights", "train_gan"]
