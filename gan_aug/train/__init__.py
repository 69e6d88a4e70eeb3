"""The conditional GAN trainer, in pieces as stylegan2-ada-pytorch splits it: the loop (loop.py),
the loss with its regulariser (loss.py), adaptive augmentation (augment.py) and per-class best
weights with early stop (early_stop.py). Each stateful piece saves and restores itself."""
from gan_aug.train.loop import TrainResult, class_sampling_weights, train_gan
from gan_aug.train.plan import Budget, amp_dtype, budget, network_width

__all__ = ["Budget", "TrainResult", "amp_dtype", "budget", "class_sampling_weights", "network_width",
           "train_gan"]
