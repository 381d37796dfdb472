from .mixssl import MixSSL
from .dino import DINO
from .mixco import MixCo
from .mixup_simclr import MixupSimCLR
from .rotation import Rotation

__all__ = ['MixSSL', 'DINO', 'MixCo', 'MixupSimCLR', 'Rotation']
