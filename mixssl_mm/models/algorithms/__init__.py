from .dino import DINO
from .mixco import MixCo
from .mixssl import MixSSL
from .mixssl_aux import MixSSLAux
from .mixssl_contrast import MixSSLContrast
from .mixup_simclr import MixupSimCLR
from .rotation import Rotation

__all__ = [
    'MixSSL', 'MixSSLAux', 'MixSSLContrast', 'DINO', 'MixCo', 'MixupSimCLR',
    'Rotation'
]
